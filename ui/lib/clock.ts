import { ref } from 'vue'

/**
 * The tab's one clock for relative times ("2 minutes ago"), ticking every 30 s: a card reads it
 * itself, so a tick re-renders only what shows a time, not every card (as a `now` prop would).
 */
export const now = ref(Date.now())
setInterval(() => (now.value = Date.now()), 30_000)
