import { defineEventHandler, setResponseHeader } from 'h3'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { requireBearer } from '#server/http/bearer'
import { scrape } from '#server/metrics/index'
import { useSampler } from '#server/resources/index'

export default defineEventHandler(async (event) => {
  const ctx = await useContext()
  requireBearer(event, ctx.config.metricsToken)
  const { contentType, body } = await scrape(ctx, await useReconciler(), await useSampler())
  setResponseHeader(event, 'Content-Type', contentType)
  return body
})
