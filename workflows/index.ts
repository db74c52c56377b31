export { patientJourney } from './patient-journey.js';
