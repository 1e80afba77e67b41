"""Translation catalogues (``<locale>/LC_MESSAGES/messages.po``) and the schema string extractor.

UI msgids are the Chinese text. Besides ``_()``/``_l()`` calls, the screens show labels that live in
the schema as plain strings (column ``info={"label": ...}``, ``__admin__`` names and menu groups,
``LabeledEnum`` member labels) and module constants holding messages; ``extract_schema`` below lets
``pybabel extract`` (see ``babel.cfg``) find those too, and ``views/factory.py`` translates them at
render time.
"""
