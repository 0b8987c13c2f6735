"""Accepting a submitted request: the model rules, the body, its input images, the new task.

table.py       the rule table of docs/model-rules.md (ModelRules, ModeRules, MODELS)
checks.py      the rules that need more than a range check: size, input image, bbox_list
sizing.py      the output size of a valid request
fields.py      typed fields of the JSON body, with wire-path error messages
body.py        the envelope and the per-protocol shape of `input`
image_info.py  an input image's header: format, size, transparency
inputs.py      input image sources: scheme dispatch, data URIs, byte checks
sources.py     where input bytes come from: oss:// uploads, loopback URLs
validation.py  validate_submit(): all of the above, in order, to a ValidatedRequest
new_task.py    the task record of an accepted request
"""
