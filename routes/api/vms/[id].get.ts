import { defineEventHandler } from 'h3'
import { VmId } from '#schemas/vms'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { getVm } from '#server/vms/index'
import { readId } from '#server/http/input'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => getVm(await useContext(), await useReconciler(), readId(event, 'id', VmId), languageOf(event)))
