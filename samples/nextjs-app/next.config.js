// Next.js configuration for the routeheap sample: defaults, except that `next build` skips ESLint,
// which this sample does not install, and NEXT_DIST_DIR may move the output folder.
'use strict';

module.exports = {
  eslint: { ignoreDuringBuilds: true },
  // `next dev` and `next build` both write to .next. The dev server's test uses another folder,
  // so that it can run while the production test builds.
  distDir: process.env.NEXT_DIST_DIR || '.next',
};
