/**
 * The layers of src/ (docs/architecture.md): storage at the bottom, the wire on it, the initiator
 * and the target side by side on both, the CLI and the demo on top. test/boundaries.test.ts runs
 * these rules and fails on any violation.
 */
const SIDES = '^src/(initiator|target|cli|demo)/';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle makes load order matter and hides which module depends on which.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'storage-knows-no-wire',
      comment: 'Storage (pool file, header, native, errors) never reaches the wire or gRPC: a local Pool loads neither.',
      severity: 'error',
      from: { path: '^src/storage/' },
      to: { path: ['^src/(wire|generated)/', SIDES, 'node_modules/(@grpc|protobufjs|etcd3)/'] },
    },
    {
      name: 'wire-below-the-sides',
      comment: 'The wire contract is shared by both sides and depends on neither.',
      severity: 'error',
      from: { path: '^src/wire/' },
      to: { path: SIDES },
    },
    {
      name: 'initiator-not-target-or-above',
      severity: 'error',
      from: { path: '^src/initiator/' },
      to: { path: '^src/(target|cli|demo)/' },
    },
    {
      name: 'target-not-initiator-or-above',
      severity: 'error',
      from: { path: '^src/target/' },
      to: { path: '^src/(initiator|cli|demo)/' },
    },
    {
      name: 'src-not-tests',
      comment: 'What ships never loads a test, a benchmark or an example.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^src/generated/'] },
    // Absolute, so that the rules also run from another directory (test/boundaries.test.ts's fixture).
    tsConfig: { fileName: require('path').join(__dirname, 'tsconfig.json') },
    tsPreCompilationDeps: true,
  },
};
