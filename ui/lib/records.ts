import { onMounted, onUnmounted, ref, type Ref } from 'vue'
import { ApiError, del, get } from './api'
import { type ChangeKind, onChange } from './live'

/** A record as the API answers it. */
export interface Stored { id: string; revision: number; createdAt?: string; updatedAt?: string }

/** A list of the API (`/api/<kind>`), loaded on mount and again when the stream says that kind changed. */
export function useRecords<T extends Stored>(kind: ChangeKind) {
  const items = ref([]) as Ref<T[]>
  const loaded = ref(false)
  const error = ref('')
  async function load() {
    try {
      items.value = (await get<T[]>(`/api/${kind}`)).sort((a, b) => (a.id < b.id ? -1 : 1))
      error.value = ''
    } catch (err) {
      error.value = (err as Error).message
    } finally {
      loaded.value = true
    }
  }
  let off: (() => void) | undefined
  onMounted(() => {
    void load()
    off = onChange((k) => k === kind && void load())
  })
  onUnmounted(() => off?.())
  return { items, loaded, error, load }
}

/** Moves `list[i]` by `delta` places (-1 up, 1 down); nothing past either end. */
export function move<T>(list: T[], i: number, delta: -1 | 1) {
  const j = i + delta
  if (j < 0 || j >= list.length) return
  ;[list[i], list[j]] = [list[j]!, list[i]!]
}

/** The record a stale save's 409 carries (the server's current one), to reload the form with. */
export function staleCurrent<T>(err: unknown): T | undefined {
  return err instanceof ApiError && err.status === 409 ? (err.body.current as T | undefined) : undefined
}

/**
 * Deletes a record after the user confirms, guarded by its revision. Returns the error message
 * to show (a 409 names who still uses it), or '' when it is gone (or the user changed their mind).
 */
export async function confirmDelete(kind: ChangeKind, rec: Stored, question: string): Promise<string> {
  if (!window.confirm(question)) return ''
  try {
    await del(`/api/${kind}/${encodeURIComponent(rec.id)}?revision=${rec.revision}`)
    return ''
  } catch (err) {
    return (err as Error).message
  }
}
