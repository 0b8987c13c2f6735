"""The fake OSS behind the API: temporary uploads and result images, all in memory.

uploads.py    getPolicy answers, and the PostObject target's files (oss:// keys)
multipart.py  the multipart/form-data reader for that target
results.py    signed, expiring result URLs and the cached PNGs behind them
render.py     drawing a result PNG, deterministically
bytecache.py  a size-bounded LRU of byte strings (result PNGs, input sources)
"""
