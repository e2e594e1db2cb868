// Deployment settings baked into the page. In the source tree nothing is baked: the Parley server
// serves this page itself, so the page talks to its own host. `node build-site.mjs` (the Vercel
// build) writes this module anew in the built site, with the server URL from PARLEY_SERVER_URL.

/**
 * WebSocket URL of the Parley server the page talks to (`wss://parley.example.com/ws`), or null
 * for `/ws` on the page's own host. `?server=` in the page's URL overrides it.
 * @type {string | null}
 */
export const SERVER_URL = null;
