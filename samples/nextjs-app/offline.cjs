// Preloaded with `node --require` (NODE_OPTIONS) so that the sample never reaches the network:
// `next dev` 15.5 fetches the latest version number from the npm registry on start, with no
// option to turn it off. fetch() to any host but the loopback interface fails at once instead.
'use strict';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const realFetch = globalThis.fetch;

if (typeof realFetch === 'function') {
  globalThis.fetch = function loopbackOnlyFetch(input, init) {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (!LOOPBACK_HOSTS.has(url.hostname)) {
      return Promise.reject(new TypeError(
        `fetch of ${url.origin} blocked: the routeheap Next.js sample only connects to 127.0.0.1 (offline.cjs)`));
    }
    return realFetch.call(this, input, init);
  };
}
