// The admin UI's build: served by the CMS at /admin from admin-ui/dist (hashed assets, no inline scripts).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/admin/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // the CSP forbids inline scripts: never inline the module preload polyfill
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  server: {
    // `npx vite admin-ui` during development: the API comes from a CMS running on :3000. Writes carry
    // the server's own Origin, as its CSRF check expects of pages it serves itself.
    proxy: Object.fromEntries(
      ['/api', '/media'].map((path) => [path, { target: 'http://127.0.0.1:3000', changeOrigin: true, headers: { origin: 'http://127.0.0.1:3000' } }]),
    ),
  },
});
