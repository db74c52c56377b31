export { patientJourney } from './patient-journey.js';
export { latePaymentRefund } from './late-payment.js';
export { prescriptionFulfillment } from './prescription.js';
export { examOrder } from './exam.js';
export { referral } from './referral.js';
export { careProgram } from './care-program.js';
export { onlineConsultation } from './consultation.js';
export { multidisciplinaryConsultation } from './mdt.js';
