import { defineCommand } from 'citty'
import { N_ } from '#schemas/msgid'
import { Api } from './api'
import { guarded } from './guarded'
import { t } from './i18n'

interface Image { id: string; format: string; virtualSize: number; actualSize: number }

const mib = (n: number) => (n / 2 ** 20).toFixed(0)
const done = (image: Image) => console.log(t(N_('Image {id}: {format}, {size} MiB'), { id: image.id, format: image.format, size: mib(image.virtualSize) }))

// One line on stderr, rewritten in place at most once per percent (stdout stays for the result).
function progressLine() {
  let shown = -1
  return (sent: number, total: number) => {
    const pct = total ? Math.floor((sent * 100) / total) : 100
    if (pct === shown) return
    shown = pct
    const line = t(N_('Uploading: {pct}% ({sent} of {total} MiB)'), { pct, sent: mib(sent), total: mib(total) })
    process.stderr.write(`\r${line}${pct === 100 ? '\n' : ''}`)
  }
}

const upload = defineCommand({
  meta: { name: 'upload', description: t(N_('Upload an ISO, qcow2 or raw disk image as an image (replacing the content of one no profile uses)')) },
  args: {
    file: { type: 'positional', required: true, description: t(N_('The file to upload')) },
    name: { type: 'string', required: true, description: t(N_('Image name')) },
  },
  run: guarded(async ({ args }) => {
    done(await Api.fromEnv().upload<Image>(`/api/images/${encodeURIComponent(args.name)}/content`, args.file, progressLine()))
  }),
})

const importCmd = defineCommand({
  meta: { name: 'import', description: t(N_('Make an image of a file copied into the images directory by hand')) },
  args: {
    file: { type: 'positional', required: true, description: t(N_('File name in the images directory')) },
    name: { type: 'string', description: t(N_('Image name (default: the file name up to its first dot)')) },
    convert: { type: 'boolean', description: t(N_('Convert a raw disk to qcow2 (the raw file is removed)')) },
  },
  run: guarded(async ({ args }) => {
    // The server judges the file name (a path is refused there, before anything runs).
    done(await Api.fromEnv().call<Image>('POST', '/api/images/import', { file: args.file, name: args.name, convert: args.convert ?? false }))
  }),
})

export const image = defineCommand({
  meta: { name: 'image', description: t(N_('Bring images in: upload and import')) },
  subCommands: { upload, import: importCmd },
})
