import { type Ref, ref, watch } from 'vue'

/** What is typed into `source` (a search box), `clean`ed, once the typing pauses for `ms`. */
export function debounced(source: Ref<string>, clean: (s: string) => string, ms = 300): Ref<string> {
  const out = ref(clean(source.value))
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(source, (s) => {
    clearTimeout(timer)
    timer = setTimeout(() => (out.value = clean(s)), ms)
  })
  return out
}
