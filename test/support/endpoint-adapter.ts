import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointHandler } from '../../client/src/index.js';

/**
 * A minimal node:http adapter for the framework-agnostic endpoint handlers: reads the body (one byte
 * past the handler's limit, so it can refuse oversized ones), answers what the handler returns.
 * `onBody` sees each raw body (tests inspect the tokens they were sent).
 */
export function mountEndpoint<R extends string>(handler: EndpointHandler<R>, onBody?: (body: Buffer) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= handler.maxBodyBytes + 1) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      onBody?.(body);
      void handler({ contentType: req.headers['content-type'], body }).then(({ status, headers, body: text }) => res.writeHead(status, headers).end(text));
    });
  };
}
