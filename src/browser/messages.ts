/**
 * The page scripts' messages now live in the isomorphic core (src/core/messages.ts); this module
 * keeps the browser engine's import (src/browser/engine.ts) working unchanged.
 */
export { COMPUTED, NETWORK_ERROR, serverFailed } from '../core/messages';
