import { defineEventHandler } from 'h3'
import { StatsQuery } from '#schemas/resources'
import { useContext } from '#server/context'
import { readQuery } from '#server/http/input'
import { listHosts, useSampler } from '#server/resources/index'

export default defineEventHandler(async (event) => {
  const { range } = readQuery(event, StatsQuery)
  return listHosts(await useContext(), await useSampler(), range)
})
