import { defineNitroPlugin } from 'nitropack/runtime'
// @ts-expect-error virtual module built by nitro.config.ts from locales/*.po
import catalogs from '#labvirt-catalogs'
import { setCatalogs } from '#server/i18n/index'

export default defineNitroPlugin(() => {
  setCatalogs(catalogs)
})
