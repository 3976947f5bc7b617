export * from './client-assertion.js';
export * from './key-encryption.js';
export * from './key-ring.js';
export * from './key-ring-options.js';
export * from './ring-data.js';
export * from './signing-key.js';
