/** node-gyp-build ships no types: it loads the addon built or prebuilt for this platform under a package root. */
declare module 'node-gyp-build' {
  function nodeGypBuild(root: string): unknown;
  export = nodeGypBuild;
}
