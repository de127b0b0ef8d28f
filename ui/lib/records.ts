import { onUnmounted, ref, shallowRef } from 'vue'
import { del, get } from './api'
import { type ChangeKind, onChange, status } from './live'

const POLL_MS = 5000

/** A stored record as the API lists it. */
export interface Stored { id: string; revision: number; createdAt?: string; updatedAt?: string }

/**
 * A list of records from `GET path`, loaded now and again whenever the live stream says `kind`
 * changed (another tab, another admin); with `poll`, also every few seconds while the stream is
 * not up. `error` holds the last load's message.
 */
export function useRecords<T extends Stored>(path: string, kind: ChangeKind, opts: { poll?: boolean } = {}) {
  const items = shallowRef<T[]>([])
  const loaded = ref(false)
  const error = ref('')
  async function load() {
    try {
      items.value = await get<T[]>(path)
      error.value = ''
    } catch (err) {
      error.value = (err as Error).message
    } finally {
      loaded.value = true
    }
  }
  const off = onChange((k) => k === kind && load())
  // Records that change without an admin (pending terminals) are polled while no stream says so.
  const poller = opts.poll ? setInterval(() => status.value !== 'live' && load(), POLL_MS) : undefined
  onUnmounted(() => {
    off()
    clearInterval(poller)
  })
  void load()
  return { items, loaded, error, load }
}

/** `/api/<r>/<id>`, the id escaped. */
export const recordPath = (resource: string, id: string) => `/api/${resource}/${encodeURIComponent(id)}`

/**
 * The create/edit/delete state of a list page: which row is being edited, whether the new-record
 * form is open, and a delete guarded by the row's revision (its error shown above the list).
 */
export function useRecordEditor(resource: string, list: { load(): Promise<void> }) {
  const editing = ref('')
  const creating = ref(false)
  const deleteError = ref('')
  return {
    editing,
    creating,
    deleteError,
    saved() {
      editing.value = ''
      creating.value = false
      void list.load()
    },
    async remove(row: Stored) {
      deleteError.value = ''
      try {
        await del(`${recordPath(resource, row.id)}?revision=${row.revision}`)
        await list.load()
      } catch (err) {
        deleteError.value = (err as Error).message
      }
    },
  }
}
