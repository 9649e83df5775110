"""Approval service: the catalogue in use and the case lifecycle, under the working-day case clock."""
