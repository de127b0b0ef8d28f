import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { cleanVersions } from '#server/profiles/versions'

export default defineTask({
  meta: { name: 'versions:clean', description: 'Delete profile versions nothing has used for LABVIRT_VERSION_GRACE' },
  async run() {
    return { result: { deleted: await cleanVersions(await useContext()) } }
  },
})
