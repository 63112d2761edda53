import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API server the dev server proxies to (`retenta serve` defaults to port 8000).
const api = process.env.RETENTA_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/retenta/web/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: {
      "/api": api,
      "/v1": api,
      "/healthz": api,
    },
  },
});
