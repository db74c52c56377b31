// The custom search attributes every CarePath workflow keeps up to date, so that operators find a
// journey in the Temporal UI (`CarePathStatus = "no-show"`, `CarePathOverdue = true AND
// CarePathDepartment = "cardiology"`). Search attributes are NOT encrypted by the payload codec: they
// hold ids and codes only, never names, complaints, diagnoses or notes.
//
// Each must be registered on the Temporal server before a workflow sets it: `npm start` and the test
// servers register `SEARCH_ATTRIBUTES`; a cluster with `temporal operator search-attribute create`
// (README, "Finding journeys in the Temporal UI").
import { SearchAttributeType, defineSearchAttributeKey, type SearchAttributeUpdatePair, type TypedSearchAttributes } from '@temporalio/common';

/** The journey's step (`booking`, `checked-in`, …); post-visit items and programs have none. */
export const CarePathStep = defineSearchAttributeKey('CarePathStep', SearchAttributeType.KEYWORD);
/** The workflow's own status: a journey's `active`, `completed`, `cancelled`, `no-show`, `redirected`; an item's or program's status. */
export const CarePathStatus = defineSearchAttributeKey('CarePathStatus', SearchAttributeType.KEYWORD);
/** The journey's phase (`pre-visit`, `visit`, `post-visit`, `closed`). */
export const CarePathPhase = defineSearchAttributeKey('CarePathPhase', SearchAttributeType.KEYWORD);
/** The department code: a journey's from triage, a referral's receiving department. */
export const CarePathDepartment = defineSearchAttributeKey('CarePathDepartment', SearchAttributeType.KEYWORD);
export const CarePathPatientId = defineSearchAttributeKey('CarePathPatientId', SearchAttributeType.KEYWORD);
/** The booked doctor of a journey, the prescriber of a prescription, the ordering doctor of an exam, a program's doctor. */
export const CarePathDoctorId = defineSearchAttributeKey('CarePathDoctorId', SearchAttributeType.KEYWORD);
/** True while an escalation of the workflow is open: one of its deadlines passed and the work is not done. */
export const CarePathOverdue = defineSearchAttributeKey('CarePathOverdue', SearchAttributeType.BOOL);

/** Every key, for registration on a server (npm start, tests) and for the README's commands. */
export const SEARCH_ATTRIBUTES = [CarePathStep, CarePathStatus, CarePathPhase, CarePathDepartment, CarePathPatientId, CarePathDoctorId, CarePathOverdue];

/** What a workflow's state says of it, in search attributes (an absent one is not set). */
export interface CarePathIndex {
  step?: string;
  status: string;
  phase?: string;
  department?: string;
  patientId: string;
  doctorId?: string;
  overdue: boolean;
}

/**
 * The attributes of `now` that differ from those the workflow has (`workflowInfo().typedSearchAttributes`:
 * set by its earlier upserts, or carried over from the run it continued as new from).
 */
export function indexChanges(has: TypedSearchAttributes, now: CarePathIndex): SearchAttributeUpdatePair[] {
  const pairs: SearchAttributeUpdatePair[] = [];
  const keyword = (key: typeof CarePathStatus, value: string | undefined) => {
    if (value !== undefined && has.get(key) !== value) pairs.push({ key, value });
  };
  keyword(CarePathStep, now.step);
  keyword(CarePathStatus, now.status);
  keyword(CarePathPhase, now.phase);
  keyword(CarePathDepartment, now.department);
  keyword(CarePathPatientId, now.patientId);
  keyword(CarePathDoctorId, now.doctorId);
  if (has.get(CarePathOverdue) !== now.overdue) pairs.push({ key: CarePathOverdue, value: now.overdue });
  return pairs;
}
