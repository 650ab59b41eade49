// Lint, including the layering fences: arrows point one way (renderer -> shared, electron/* -> shared,
// main/cli/server -> engine), and the renderer and shared/ never touch Node or Electron.
import tseslint from 'typescript-eslint';

// Bare builtin names are matched exactly (as `paths`), so a local './events' module is not mistaken for Node's.
const nodeBuiltinNames = ['fs', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'stream', 'zlib', 'url', 'util', 'events', 'worker_threads', 'buffer', 'process'];
const nodeBuiltins = ['node:*'];
const fence = (group, message) => ({ group, message });
const noNode = (message) => nodeBuiltinNames.map((name) => ({ name, message }));

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'build/**', 'release/**', 'test-results/**', '.bench/**', '.stryker-tmp/**', 'reports/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: noNode('shared/ is pure TypeScript: no Node.'), patterns: [
        fence(nodeBuiltins, 'shared/ is pure TypeScript: no Node.'),
        fence(['electron', 'electron/*'], 'shared/ never imports electron.'),
        fence(['react', 'react-dom', 'react/*', 'zustand', '@tanstack/*'], 'shared/ has no UI.'),
        fence(['**/electron/**', '**/renderer/**', '../electron/*', '../renderer/*', '../../electron/*', '../../renderer/*'], 'shared/ imports nothing outside itself.'),
      ] }],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', { paths: noNode('The renderer is sandboxed: no Node.'), patterns: [
        fence(nodeBuiltins, 'The renderer is sandboxed: no Node.'),
        fence(['electron', 'electron/*'], 'The renderer reaches the engine only through the bridge.'),
        fence(['**/electron/**'], 'The renderer imports only shared/ and its own files.'),
      ] }],
    },
  },
  {
    files: ['electron/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        fence(['electron', 'electron/*'], 'The engine runs under plain Node (CLI, server, tests): never import electron.'),
        fence(['**/main/**', '**/cli/**', '**/server/**', '**/preload/**', '**/renderer/**'], 'The engine is imported, it imports none of its users.'),
      ] }],
    },
  },
  {
    files: ['electron/cli/**/*.ts', 'electron/server/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        fence(['electron', 'electron/*'], 'The CLI and browser mode run without Electron.'),
        fence(['**/main/**', '**/preload/**', '**/renderer/**'], 'Only engine and shared/ are shared.'),
      ] }],
    },
  },
  {
    files: ['electron/preload/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: noNode('The preload is sandboxed: only electron and shared/.'), patterns: [
        fence(nodeBuiltins, 'The preload is sandboxed: only electron and shared/.'),
        fence(['**/engine/**', '**/main/**', '**/renderer/**'], 'The preload exposes the contract and nothing else.'),
      ] }],
    },
  },
  {
    files: ['electron/main/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        fence(['**/renderer/**', '**/cli/**', '**/preload/**'], 'main binds the contract to the engine only.'),
      ] }],
    },
  },
);
