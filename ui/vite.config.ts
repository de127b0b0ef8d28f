import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import VueI18nPlugin from '@intlify/unplugin-vue-i18n/vite'
import { defineConfig } from 'vite'
import { OUT, writeUiMessages } from '../scripts/ui-messages.mjs'

// The messages come from locales/*.po; compiled here so every build has the current ones.
writeUiMessages()

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [
    vue(),
    // runtimeOnly: messages precompiled at build time, so no message compiler (and no eval) ships.
    VueI18nPlugin({ include: [`${OUT}/*.json`], runtimeOnly: true, compositionOnly: true, fullInstall: false, strictMessage: false }),
  ],
  // Builds side by side (LABVIRT_OUTPUT_DIR, see nitro.config.ts) keep their own copy beside it.
  build: { outDir: process.env.LABVIRT_OUTPUT_DIR ? `${resolve(process.env.LABVIRT_OUTPUT_DIR)}-ui` : 'dist', emptyOutDir: true, assetsDir: 'assets' },
})
