export * from './revocation-index.js';
export * from './revocations.js';
