import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Django serves dist/ at "/" with assets under /assets/; the dev server proxies the API to it.
const backend = process.env.ORCHESTRA_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react()],
  server: {
    proxy: {
      "/api": backend,
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true },
    },
  },
  // One bundle of ~550 kB (~175 kB gzipped): React Flow dominates; splitting would not pay off.
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 800 },
});
