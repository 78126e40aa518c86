// Records `next start` on the Next.js sample after `next build`, and checks each route's verdict
// on the production server.
'use strict';

require('./nextjs_suite').defineSuite('start');
