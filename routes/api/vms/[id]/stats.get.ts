import { defineEventHandler } from 'h3'
import { VmId } from '#schemas/vms'
import { StatsQuery } from '#schemas/resources'
import { useContext } from '#server/context'
import { readId, readQuery } from '#server/http/input'
import { useReconciler } from '#server/reconcile/index'
import { useSampler, vmStats } from '#server/resources/index'

export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', VmId)
  const { range } = readQuery(event, StatsQuery)
  return vmStats(await useContext(), await useReconciler(), await useSampler(), id, range)
})
