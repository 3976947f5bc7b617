/**
 * The version of this package, as in client/package.json (a unit test keeps the two equal). A
 * constant rather than a read of package.json: the same line works from the sources, the ES module
 * build and the CommonJS build, and from a bundle.
 */
export const CLIENT_VERSION = '0.1.0';
