// The one WebAssembly module. Each file owns its static buffers; no host imports but abort.
export * from './sha256';
export * from './merkle';
export * from './p256';
export * from './ed25519';
export * from './tpm';
export { sha512_digest } from './sha512';
