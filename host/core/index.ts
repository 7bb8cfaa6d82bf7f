// TEMPORARY during the foundation work: re-exports the node:crypto twin so that services can be
// written against the final API. The WASM-backed implementation replaces this file (issue 2).
export * from './reference.js';
