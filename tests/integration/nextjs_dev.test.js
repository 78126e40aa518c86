// Records `next dev` on the Next.js sample: routeheap follows the forked server process, each
// route compiles on a small warm-up upload, and the measured uploads must get their verdicts.
'use strict';

require('./nextjs_suite').defineSuite('dev');
