/** Actor timelines (docs/REPORTS.md "Actor timelines"): the store-reading builder and the pure analysis. */
export * from './analysis.js';
export * from './build.js';
