// Virtual-time trace replay on WireCapCore.
import WireCapCore
