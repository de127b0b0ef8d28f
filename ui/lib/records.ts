import { nextTick, onMounted, onUnmounted, ref, watch, type Ref } from 'vue'
import { ApiError, del, get, post, put } from './api'
import { language } from './i18n'
import { type ChangeKind, onChange, status } from './live'

const POLL_MS = 5000

/** A record as the API answers it. */
export interface Stored { id: string; revision: number; createdAt?: string; updatedAt?: string }

const byId = (a: Stored, b: Stored) => (a.id < b.id ? -1 : 1)

/**
 * A list of the API (`/api/<kind>`), loaded on mount and again when the stream says that kind
 * changed (another tab, another admin); with `poll`, also every few seconds while the stream is
 * not up, for records that change without an admin (pending terminals). A change of language
 * loads it again too: records carry the server's translated messages (a profile's `problems`).
 * Only the newest load's answer is kept (an older one may come later, from before a save).
 */
export function useRecords<T extends Stored>(kind: ChangeKind, opts: { poll?: boolean } = {}) {
  const items = ref([]) as Ref<T[]>
  const loaded = ref(false)
  const error = ref('')
  let newest = 0
  async function load() {
    const mine = ++newest
    try {
      const list = await get<T[]>(`/api/${kind}`)
      if (mine !== newest) return
      items.value = list.sort(byId)
      error.value = ''
    } catch (err) {
      if (mine === newest) error.value = (err as Error).message
    } finally {
      loaded.value = true
    }
  }
  /**
   * Puts a record this tab just saved into the list at once, over the listed one's fields (the
   * list carries computed ones the save's answer has not), so editing it again before the
   * reload comes back starts from its new revision instead of running into a stale save's 409.
   */
  function upsert(rec: T) {
    const i = items.value.findIndex((x) => x.id === rec.id)
    if (i < 0) items.value = [...items.value, rec].sort(byId)
    else if (items.value[i]!.revision <= rec.revision) items.value[i] = { ...items.value[i]!, ...rec }
  }
  let off: (() => void) | undefined
  let poller: ReturnType<typeof setInterval> | undefined
  onMounted(() => {
    void load()
    off = onChange((k) => k === kind && void load())
    if (opts.poll) poller = setInterval(() => status.value !== 'live' && void load(), POLL_MS)
  })
  watch(language, () => void load())
  onUnmounted(() => {
    off?.()
    clearInterval(poller)
  })
  return { items, loaded, error, load, upsert }
}

/**
 * Moves `list[i]` by `delta` places (-1 up, 1 down) for the button `ev` came from (`data-move="up"`
 * or `"down"` in an `<li>` of an `<ol>`), and puts the focus on the same button of the moved item,
 * so a keyboard user can press it again; at an end, on the other one.
 */
export async function move<T>(list: T[], i: number, delta: -1 | 1, ev: Event) {
  const j = i + delta
  if (j < 0 || j >= list.length) return
  ;[list[i], list[j]] = [list[j]!, list[i]!]
  const button = ev.currentTarget as HTMLElement
  const ol = button.closest('ol')
  const which = button.dataset.move
  await nextTick()
  const row = ol?.children[j]
  const same = row?.querySelector<HTMLButtonElement>(`[data-move="${which}"]`)
  ;(same && !same.disabled ? same : row?.querySelector<HTMLButtonElement>(`[data-move="${which === 'up' ? 'down' : 'up'}"]`))?.focus()
}

/** The record a stale save's 409 carries (the server's current one), to reload the form with. */
function staleCurrent<T>(err: unknown): T | undefined {
  return err instanceof ApiError && err.status === 409 ? (err.body.current as T | undefined) : undefined
}

/**
 * Deletes a record after the user confirms, guarded by its revision. Returns the error message
 * to show (a 409 names who still uses it), or '' when it is gone (or the user changed their mind).
 */
async function confirmDelete(kind: ChangeKind, rec: Stored, question: string): Promise<string> {
  if (!window.confirm(question)) return ''
  try {
    await del(`/api/${kind}/${encodeURIComponent(rec.id)}?revision=${rec.revision}`)
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * A form's save: POST for a new record, PUT with its revision for an edit. An edit sends the
 * record as loaded with the form's fields over it, so fields the form does not show (added by a
 * newer server) keep their values; `body()` gives a cleared field as undefined. A stale save's 409
 * hands the saved record to `reload` and keeps the server's message in `notice`; any other error
 * stays in `error` for the fields to show.
 */
export function useSave<R extends Stored>(kind: ChangeKind, record: R | null, body: () => object, reload: (current: R) => void, saved: (rec: R) => void) {
  const error = ref<unknown>()
  const notice = ref('')
  const busy = ref(false)
  let base = record
  async function save() {
    busy.value = true
    error.value = undefined
    notice.value = ''
    try {
      saved(base
        ? await put<R>(`/api/${kind}/${encodeURIComponent(base.id)}`, { ...base, ...body(), revision: base.revision })
        : await post<R>(`/api/${kind}`, body()))
    } catch (err) {
      const current = staleCurrent<R>(err)
      if (current) {
        reload(current)
        base = current
        notice.value = (err as Error).message
      } else error.value = err
    } finally {
      busy.value = false
    }
  }
  return { error, notice, busy, save }
}

/** What a page's editor needs of its list (`useRecords`). */
interface List<R extends Stored> { load(): Promise<void>; upsert(rec: R): void }

/** A record page's state: the record in its editor ('new', or none), the last success, the last refusal. */
export function useEditing<R extends Stored>(kind: ChangeKind, list: List<R>) {
  const editing = ref(null) as Ref<R | 'new' | null>
  const message = ref('')
  const problem = ref('')
  return {
    editing,
    message,
    problem,
    open(rec: R | 'new') {
      editing.value = rec
      message.value = ''
      problem.value = ''
    },
    /** Closes the editor, says `text`, shows the saved record (if the page has it) and refetches the list. */
    saved(text: string, rec?: R) {
      message.value = text
      editing.value = null
      if (rec) list.upsert(rec)
      void list.load()
    },
    async remove(rec: R, question: string) {
      message.value = ''
      problem.value = await confirmDelete(kind, rec, question)
      if (!problem.value) void list.load()
    },
  }
}

/** `/api/<r>/<id>`, the id escaped. */
export const recordPath = (resource: string, id: string) => `/api/${resource}/${encodeURIComponent(id)}`

/**
 * The create/edit/delete state of a list page whose rows edit in place: which row is being
 * edited, whether the new-record form is open, and a delete guarded by the row's revision (its
 * error shown above the list).
 */
export function useRecordEditor<R extends Stored>(resource: string, list: List<R>) {
  const editing = ref('')
  const creating = ref(false)
  const deleteError = ref('')
  return {
    editing,
    creating,
    deleteError,
    saved(rec: R) {
      editing.value = ''
      creating.value = false
      list.upsert(rec)
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
