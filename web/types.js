// @ts-check
// The shapes the page reads from the API v1 (DESIGN section 4), for the type checker only: this
// module exports no value, and the other modules name its types through `import('./types.js')`.
// Fields the page reads defensively (older or foreign shapes) are typed as loosely as it reads them.

/**
 * @typedef {object} ApiWarning
 * @property {string} code
 * @property {string} message
 */

/**
 * A recording certificate as the API lists it; the preview returns the same fields without the
 * stored ones (id, status, assignments).
 * @typedef {object} Certificate
 * @property {string} id
 * @property {string} [tenantId]
 * @property {string} [alias]
 * @property {string} subjectName
 * @property {string} serialNumber
 * @property {string} [subjectDN]
 * @property {string} [issuerDN]
 * @property {string} [notBefore]
 * @property {string} notAfter
 * @property {string} [keyAlgorithm]
 * @property {number} [keySize]
 * @property {string} [fingerprintSha256]
 * @property {boolean} [selfSigned]
 * @property {string} [status] active, expiring, expired or retired
 * @property {string} [uploadedAt]
 * @property {string} [uploadedBy]
 * @property {unknown} [ivrProfiles] ids, or objects with an id (see profilesOf)
 * @property {unknown} [screenRecording] true, or an object whose `enabled` is not false
 * @property {ApiWarning[]} [warnings]
 * @property {string} [key] the key's reference; only the azure flow returns it
 */

/**
 * @typedef {object} AuditEntry
 * @property {string} at
 * @property {string} [actor]
 * @property {string} action
 * @property {string} [certificateId]
 * @property {Record<string, any>} [details]
 */

/**
 * @typedef {object} ExpiryNotification
 * @property {string} certificateId
 * @property {string} kind expiring or expired
 * @property {number} thresholdDays
 * @property {string} notAfter
 * @property {string} createdAt
 * @property {{ ivrProfiles?: string[], screenRecording?: boolean }} [activeIn] where the certificate was active
 * @property {boolean} [replacementAvailable] a newer usable certificate was uploaded and not assigned
 * @property {string} [message] what will happen and what to do
 */

/**
 * The tenant's escrow certificate (GET/PUT .../escrow-certificate).
 * @typedef {object} EscrowCertificate
 * @property {string} fingerprintSha256
 * @property {string} subjectDN
 * @property {string} notAfter
 * @property {number} escrowedKeys how many keys are escrowed now
 * @property {{certificateId: string, reason: string}[]} notEscrowed
 */

export {};
