import { defineNitroPlugin } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { sweepTempFiles } from '#server/images/import'

// An upload or conversion cut short by a crash left its temporary file: nothing can finish it now.
export default defineNitroPlugin(() => {
  useContext()
    .then(sweepTempFiles)
    .catch((err) => console.error('[labvirt] image temporary files not swept:', err))
})
