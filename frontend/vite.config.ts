import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package (orchestra/webapp), so the wheel and the image carry it;
// Django serves it at "/" with assets under /assets/; the dev server proxies the API to it.
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
  build: { outDir: "../orchestra/webapp", emptyOutDir: true, assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 800 },
});
