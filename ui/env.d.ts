/// <reference types="vite/client" />
declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}
declare module '@intlify/unplugin-vue-i18n/messages' {
  const messages: Record<string, Record<string, unknown>>
  export default messages
}
