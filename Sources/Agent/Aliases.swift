// Only MappingFile is imported here, so these names are unambiguous
// (AutomagicAPI has an `Attachment` of its own).
import MappingFile

/// The mapping file's delegate description.
typealias FileAttachment = Attachment
