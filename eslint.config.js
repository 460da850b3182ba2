// Lint rules for Tern. `npm run lint` runs them (with prettier --check); `make test` runs lint first.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers (docs/architecture.md): what each top-level unit of src/ may import, bottom up. A unit
 * is a folder src/<name>/ or a file src/<name>.ts (config is both: src/config.ts and its sections in
 * src/config/). Anything not listed is refused, so a new edge is a decision made here, in review.
 * test/architecture/ checks the rest: no cycle between units, no source file over 600 lines.
 */
const MAY_IMPORT = {
  core: [],
  version: [],
  token: [],
  scratch: [],
  http: ['core'],
  registry: ['core'],
  config: ['core', 'registry'],
  state: ['core', 'registry'],
  observability: ['core', 'registry'],
  runtimes: ['core', 'registry', 'config', 'version'],
  pool: ['core', 'registry', 'runtimes'],
  scheduler: ['core', 'registry', 'runtimes', 'pool'],
  cluster: ['core', 'registry', 'config', 'scheduler'],
  workflows: ['core', 'registry', 'config', 'scheduler'],
  triggers: ['core', 'http', 'registry', 'config', 'scheduler', 'cluster'],
  gateway: ['core', 'http', 'registry', 'scheduler', 'triggers'],
  compat: ['core', 'http', 'registry', 'config', 'runtimes', 'scheduler', 'workflows'],
  loops: ['core', 'http', 'registry', 'config', 'observability', 'runtimes', 'pool', 'scheduler', 'triggers'],
  node: [
    'core',
    'version',
    'token',
    'scratch',
    'http',
    'registry',
    'config',
    'state',
    'observability',
    'runtimes',
    'pool',
    'scheduler',
    'cluster',
    'workflows',
    'triggers',
    'gateway',
    'compat',
    'loops',
  ],
  cli: ['core', 'config', 'registry', 'version', 'node'],
};
/** Units that are a file src/<name>.ts; config is also a folder. */
const ROOT_FILES = new Set(['config', 'scratch', 'token', 'version']);
const FOLDERS = new Set(Object.keys(MAY_IMPORT).filter((u) => !ROOT_FILES.has(u) || u === 'config'));
const UNITS = Object.keys(MAY_IMPORT);

/** no-restricted-imports for one unit: the relative specifiers that reach a unit it may not import. */
function layerRules(unit) {
  const refused = UNITS.filter((u) => u !== unit && !MAY_IMPORT[unit].includes(u));
  if (refused.length === 0) return [];
  const allowed = MAY_IMPORT[unit].length
    ? `may import only ${MAY_IMPORT[unit].join(', ')}`
    : "imports nothing of Tern's";
  const restrict = (files, up) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^${up}(${refused.join('|')})(/|\\.js$)`,
              message: `${unit} ${allowed} (the layers: eslint.config.js, docs/architecture.md)`,
            },
          ],
        },
      ],
    },
  });
  const overrides = [];
  if (ROOT_FILES.has(unit)) overrides.push(restrict([`src/${unit}.ts`], '\\./'));
  // A file n folders below src/ reaches a top-level unit through exactly n "../".
  if (FOLDERS.has(unit)) {
    for (let depth = 1; depth <= 4; depth++) {
      const glob = `src/${unit}/${'*/'.repeat(depth - 1)}*.ts`;
      overrides.push(restrict([glob], `(\\.\\./){${depth}}`));
    }
  }
  return overrides;
}

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '**/node_modules/',
      'test/fixtures/',
      'bench/reference/workerd/',
      'test-artifacts/',
      '.tern/',
      'build/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      'no-undef': 'off', // TypeScript checks names itself
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'max-lines': ['error', { max: 600 }],
    },
  },
  {
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...UNITS.flatMap(layerRules),
  prettier,
);
