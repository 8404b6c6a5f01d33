from django.contrib import admin

from routing.models import Comparison, Router, RouterJob

admin.site.register([Router, Comparison, RouterJob])
