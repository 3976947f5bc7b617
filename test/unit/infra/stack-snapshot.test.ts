import { describe, expect, it } from 'vitest';
import { synth } from '../../support/synth.js';

/** Asset hashes change with every aws-cdk-lib release; they are not what this tripwire guards. */
function maskAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}(\.zip|\.json)?/g, '<asset-hash>$1'));
}

describe('stack: tripwire', () => {
  it('the default stack template has not changed unexpectedly (review and update with `npx vitest -u`)', () => {
    expect(maskAssetHashes(synth().template.toJSON())).toMatchSnapshot();
  });
});
