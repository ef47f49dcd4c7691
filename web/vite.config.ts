// Vite builds the AMI Editor into build/web/dist (outside web/, git-ignored), where amid
// serves it (gateway/static_files.h). `npm run dev` serves it with hot reload and proxies
// the node's API to AMI_NODE_URL (default http://127.0.0.1:8088).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const node = process.env.AMI_NODE_URL ?? 'http://127.0.0.1:8088';

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: {
    // monaco-editor's package "exports" hide its ESM files; the editor imports only the
    // parts it needs (src/editor/monacoFeatures.ts), so they are reached by path.
    alias: [{ find: /^monaco-editor\/esm\//, replacement: fileURLToPath(new URL('./node_modules/monaco-editor/esm/', import.meta.url)) }],
  },
  build: {
    outDir: process.env.AMI_WEB_OUT ?? '../build/web/dist',
    emptyOutDir: true,
    target: 'es2022',
    // Monaco's TypeScript worker is one large file by nature; the app's own chunk is small.
    chunkSizeWarningLimit: 8000,
  },
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': node,
      '/metrics': node,
      '/ws': { target: node.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
