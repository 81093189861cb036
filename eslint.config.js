/**
 * Lint that guards the design (STYLE.md): no `any`, pure statecharts in `machines/` (no `node:*`,
 * no `src/`, no I/O libraries, no `process`), and no import cycles anywhere.
 */
import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'artifacts/**', 'test/agent-clis/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs}'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/extensions': ['.ts', '.js', '.mjs'] },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/test/**', '../test/*'], message: 'Sources never import test code.' },
            // One machine stays simple: the NATS client loads only by import() in src/distribution/nats-connection.ts.
            { group: ['@nats-io/*'], allowTypeImports: true, message: 'Load NATS only through src/distribution/nats-connection.ts (dynamic import); use `import type` elsewhere.' },
          ],
        },
      ],
    },
  },
  {
    // Pure statecharts: no I/O, no clock, no environment (Temporal's deterministic workflows).
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'machines/ is pure: I/O lives in src/.' },
            { group: ['**/src/**', '../src/*'], message: 'machines/ never imports src/: src/ provides the real actors with .provide().' },
            { group: ['fastify', 'fastify/*', 'ws', 'pino', 'better-sqlite3', 'execa', 'prom-client'], message: 'machines/ is pure: I/O libraries belong in src/.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'machines/ reads no environment: config comes in as input.' }, { name: 'setTimeout', message: 'Time only through after/delays.' }, { name: 'Date', message: 'machines/ keeps no clock.' }],
    },
  },
  {
    files: ['src/gateway/hmi/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
