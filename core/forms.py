from django import forms
from django.utils.translation import gettext_lazy as _


class SiteSettingsForm(forms.Form):
    company_name = forms.CharField(label=_("Nombre de la empresa"), max_length=120)
    default_language = forms.ChoiceField(label=_("Idioma por defecto de los usuarios nuevos"),
                                         choices=[("es", "Español"), ("en", "English")])
    brand_color = forms.CharField(label=_("Color de marca"), max_length=7,
                                  widget=forms.TextInput(attrs={"type": "color"}))
