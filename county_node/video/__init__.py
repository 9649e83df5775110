"""The county video index (视频索引): camera registry, recording segments and events, clips, retention.

Only the index lives here and replicates up; the video itself stays on the hall's NVR.
"""
